; expect: marlin malformed line 2: checksum 99 does not match
N10 G1 X5*99
