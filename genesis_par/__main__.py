from genesis_par.cli import main

main()
