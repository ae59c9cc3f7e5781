; expect: marlin forbidden line 2: M303 is forbidden
M303 E0 S200 C8 U1
