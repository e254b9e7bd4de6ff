from vmm.ui.entry import main

main()
