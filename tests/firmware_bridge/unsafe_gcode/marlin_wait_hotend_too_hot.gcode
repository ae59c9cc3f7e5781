; expect: marlin temperature line 2: hotend temperature 285
M109 R285
