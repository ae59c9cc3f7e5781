; expect: marlin temperature line 2: bed temperature 130
M190 S130
