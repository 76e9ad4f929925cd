// A module op without its region, as a damaged file may hold one (written
// with verification off: compile-entries-bytecode.test).
"builtin.module"() : () -> ()
