"""perceptron-mock: an offline stand-in for Perceptron's chat-completions API."""

# Lets the pytest plugin (perceptron_mock_pytest) tell this package from a user's own `app`.
IS_PERCEPTRON_MOCK = True
