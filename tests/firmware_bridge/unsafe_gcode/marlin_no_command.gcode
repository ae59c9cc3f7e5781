; expect: marlin malformed line 3: no command
G28
X10 Y10
