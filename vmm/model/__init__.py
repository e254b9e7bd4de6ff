"""Pure values: folders, metadata, the domain view, VM states. No I/O, no libvirt.

Imports nothing from vmm's other packages."""
