from orchestration.cli.entry import main

main()
