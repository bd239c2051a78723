from configspec.cli import main

main()
