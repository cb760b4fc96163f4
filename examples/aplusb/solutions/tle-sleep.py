# Time limit by wall clock: sleeps instead of computing, using no CPU time.
import time

a, b = map(int, input().split())
time.sleep(3600)
print(a + b)
