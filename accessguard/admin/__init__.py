"""Administration: server-rendered pages and the operations the command line shares with them."""
