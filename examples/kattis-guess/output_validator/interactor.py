# Kattis interactive output validator: interactor input answer feedback_dir [args];
# its stdout is the submission's stdin and the submission's stdout its stdin.
# Exit 42 accepts, 43 rejects, with the reason in feedback_dir/judgemessage.txt.
import sys

input_path, _answer_path, feedback_dir = sys.argv[1:4]
secret = int(open(input_path).read())


def reject(why):
    with open(feedback_dir + 'judgemessage.txt', 'w') as f:
        f.write(why + '\n')
    sys.exit(43)


for guesses in range(1, 11):
    line = sys.stdin.readline()
    if not line:
        reject(f'the submission stopped after {guesses - 1} guesses')
    words = line.split()
    if len(words) != 2 or words[0] != 'guess' or not words[1].lstrip('-').isdigit():
        reject(f'expected "guess y", got {line.strip()!r}')
    y = int(words[1])
    if y == secret:
        print('correct', flush=True)
        with open(feedback_dir + 'judgemessage.txt', 'w') as f:
            f.write(f'found in {guesses} guesses\n')
        sys.exit(42)
    print('lower' if secret < y else 'higher', flush=True)
reject('more than 10 guesses')
