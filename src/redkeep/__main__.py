from redkeep.cli import main

main()
