"""Feeds keep no tables of their own: the token is on the person, the switch on the program."""
