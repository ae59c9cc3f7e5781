; expect: marlin forbidden line 3: M500 is forbidden
M92 E93 ; also refused
M500
