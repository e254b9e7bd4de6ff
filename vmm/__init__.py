"""vmm: a keyboard-driven virtual machine manager for libvirt."""

__version__ = "0.1.0"
