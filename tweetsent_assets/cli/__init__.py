"""The `tweetsent` command line: its subcommands, the demo and the console output."""
