from dbkit.cli import main

main()
