# Runtime error: parses the whole line as one integer, which raises ValueError
# (a traceback and exit status 1).
a = int(input())
b = int(input())
print(a + b)
