; expect: marlin malformed line 3: X value '1.2.3' is not a number
G28
G1 X1.2.3 Y4
