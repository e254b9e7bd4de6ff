"""The only package that imports libvirt: connections, hosts, storage and images.

libvirt's errors become vmm's here. May import vmm.model, never vmm.ops or vmm.ui."""
