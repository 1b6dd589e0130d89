from .frozen import entry

entry()
