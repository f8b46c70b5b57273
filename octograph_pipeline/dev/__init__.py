"""What only development, tests and the demo use: the Octopus API simulator, a private influxd, and the demo.
A deployment imports nothing from here."""
