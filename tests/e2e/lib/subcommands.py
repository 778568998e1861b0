"""The command line of the e2e helper modules that hold several commands: the first argument
names the command, which then reads its own arguments from sys.argv[1]."""
import sys


def run(commands, doc):
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(doc)
    command = commands[sys.argv[1]]
    sys.argv = sys.argv[:1] + sys.argv[2:]
    command()
