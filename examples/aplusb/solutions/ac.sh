read -r -d '' -a nums
echo $(( nums[0] + nums[1] ))
