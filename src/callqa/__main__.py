from callqa.cli.app import main

main()
