"""What a user can do: act, clone, create, remove, organise, and the journal of it.

Never prints, never prompts. May import vmm.model and vmm.virt, never vmm.ui."""
