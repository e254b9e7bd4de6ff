"""The picker: folders, VMs and their actions, one menu screen at a time, for any Menu back-end.

`flow` is the browsing loop, `vm_screens` one VM's screens, `new_vm` the New VM screens,
`rows` what each row shows, `keys` the quick keys, `protocol` what the screens ask of the flow.
"""
