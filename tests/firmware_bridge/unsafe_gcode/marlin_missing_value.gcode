; expect: marlin malformed line 2: X has no value
G1 X Y10 F100
