#!/usr/bin/python3
"""Prints two ports that nothing uses on 127.0.0.1, for UDP and TCP alike (resolver.sh: one
for the server, one that stays dead)."""
from ports import free_port

first = free_port()
second = free_port()
while second == first:
    second = free_port()
print(first, second)
