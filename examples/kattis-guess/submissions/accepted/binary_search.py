lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print('guess', mid, flush=True)
    reply = input()
    if reply == 'correct':
        break
    if reply == 'lower':
        hi = mid - 1
    else:
        lo = mid + 1
