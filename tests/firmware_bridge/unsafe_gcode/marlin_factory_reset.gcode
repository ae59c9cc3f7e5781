; expect: marlin forbidden line 2: M502 is forbidden
M502
