from vmm.entry import main

main()
