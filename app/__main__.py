from perceptron_mock.cli import main

main()
