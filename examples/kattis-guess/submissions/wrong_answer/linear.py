for y in range(1, 1001):
    print('guess', y, flush=True)
    if input() == 'correct':
        break
