from orchestration.cli.main import main

main()
