from flashsight.cli import main

main()
