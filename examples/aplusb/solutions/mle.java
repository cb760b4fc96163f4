import java.util.ArrayList;
import java.util.List;

// Allocates and touches 1 GiB in 1 MiB blocks, keeping every block alive.
public class Solution {
    public static void main(String[] args) {
        List<long[]> blocks = new ArrayList<>();
        long sum = 0;
        for (int i = 0; i < 1024; i++) {
            long[] block = new long[128 * 1024];
            for (int j = 0; j < block.length; j += 512) block[j] = i + j;
            blocks.add(block);
            sum += block[512];
        }
        System.out.println(sum + blocks.size());
    }
}
