from d2l_lightning.cli import main

main()
