"""perceptron-mock: an offline stand-in for Perceptron's chat-completions API."""
