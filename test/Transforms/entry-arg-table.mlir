// RUN: onebit-opt %s --split-input-file --onebit-entry-arg-table | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-entry-arg-table --finalize-memref-to-llvm --convert-scf-to-cf --convert-to-llvm --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// A loop over three layers, last first (as a backward pass runs), that
// picks each layer's weight with a switch: layer 2 - i in iteration i. The
// weights (static buffers) move into the table; the switch becomes a load of
// the table at 3 - i (argument 3 - i: the weights are arguments 1 to 3). The
// buffer of dynamic size stays an argument; the scalar is read from the
// table once, at the start.
// CHECK-LABEL: func.func @step(
// CHECK-SAME:      %[[DY:[^:]*]]: memref<?xf32>, %[[T:[^:]*]]: memref<6xindex>)
// CHECK-SAME:      attributes {onebit.arg_table = array<i64: 1, 2, 3, 4, 5>}
// CHECK:         %[[C4:.*]] = arith.constant 4 : index
// CHECK:         %[[A4:.*]] = memref.load %[[T]][%[[C4]]] : memref<6xindex>
// CHECK:         %[[LR:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64)> to memref<f32>
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NOT:       scf.index_switch
// CHECK-DAG:       %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG:       %[[CM1:.*]] = arith.constant -1 : index
// CHECK:           %[[M:.*]] = arith.muli %[[I]], %[[CM1]] : index
// CHECK:           %[[S:.*]] = arith.addi %[[C3]], %[[M]] : index
// CHECK:           %[[A:.*]] = memref.load %[[T]][%[[S]]] : memref<6xindex>
// CHECK:           %[[P:.*]] = llvm.inttoptr
// CHECK:           %[[W:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)> to memref<4xf32>
// CHECK-NOT:       scf.index_switch
// CHECK:           func.call @update(%[[W]], %[[DY]], %[[LR]])
// LLVM-LABEL: llvm.func @step(
// LLVM-NOT:     unrealized_conversion_cast
// LLVM:         llvm.call @update
func.func private @update(memref<4xf32>, memref<?xf32>, memref<f32>)

func.func @step(%dy: memref<?xf32>, %w0: memref<4xf32>, %w1: memref<4xf32>, %w2: memref<4xf32>, %lr: memref<f32>, %unused: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  scf.for %i = %c0 to %c3 step %c1 {
    %w = scf.index_switch %i -> memref<4xf32>
    case 1 {
      scf.yield %w1 : memref<4xf32>
    }
    case 2 {
      scf.yield %w0 : memref<4xf32>
    }
    default {
      scf.yield %w2 : memref<4xf32>
    }
    func.call @update(%w, %dy, %lr) : (memref<4xf32>, memref<?xf32>, memref<f32>) -> ()
  }
  return
}

// -----

// A switch result that picks arguments out of progression, and one that
// picks a value the function makes, stay in the switch; the result that
// picks arguments 0 + 2 * i leaves it. The arguments the switch still
// yields are read from the table at the start.
// CHECK-LABEL: func.func @mixed(
// CHECK-SAME:      %[[T:[^:]*]]: memref<9xindex>)
// CHECK-SAME:      attributes {onebit.arg_table = array<i64: 0, 1, 2, 3, 4, 5, 6, 7, 8>}
// CHECK:         %[[X:.*]] = builtin.unrealized_conversion_cast
// CHECK:         %[[Y:.*]] = builtin.unrealized_conversion_cast
// CHECK:         %[[Z:.*]] = builtin.unrealized_conversion_cast
// CHECK:         %[[OWN:.*]] = memref.alloc
// CHECK:         scf.for %[[I:.*]] =
// CHECK-DAG:       %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:       %[[C2:.*]] = arith.constant 2 : index
// CHECK:           %[[M:.*]] = arith.muli %[[I]], %[[C2]] : index
// CHECK:           %[[S:.*]] = arith.addi %[[C0]], %[[M]] : index
// CHECK:           memref.load %[[T]][%[[S]]] : memref<9xindex>
// CHECK:           %[[SW:.*]]:2 = scf.index_switch %[[I]] -> memref<2xf32>, memref<2xf32>
// CHECK:           case 1 {
// CHECK:             scf.yield %[[Z]], %[[OWN]]
// CHECK:           case 2 {
// CHECK:             scf.yield %[[X]], %[[OWN]]
// CHECK:           default {
// CHECK:             scf.yield %[[Y]], %[[OWN]]
func.func private @use(memref<2xf32>, memref<2xf32>, memref<2xf32>)

func.func @mixed(%a0: memref<2xf32>, %b0: memref<2xf32>, %a1: memref<2xf32>, %b1: memref<2xf32>, %a2: memref<2xf32>, %b2: memref<2xf32>, %x: memref<2xf32>, %y: memref<2xf32>, %z: memref<2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %own = memref.alloc() : memref<2xf32>
  scf.for %i = %c0 to %c3 step %c1 {
    %r:3 = scf.index_switch %i -> memref<2xf32>, memref<2xf32>, memref<2xf32>
    case 1 {
      scf.yield %a1, %z, %own : memref<2xf32>, memref<2xf32>, memref<2xf32>
    }
    case 2 {
      scf.yield %a2, %x, %own : memref<2xf32>, memref<2xf32>, memref<2xf32>
    }
    default {
      scf.yield %a0, %y, %own : memref<2xf32>, memref<2xf32>, memref<2xf32>
    }
    func.call @use(%r#0, %r#1, %r#2) : (memref<2xf32>, memref<2xf32>, memref<2xf32>) -> ()
  }
  memref.dealloc %own : memref<2xf32>
  return
}

// -----

// A switch whose operand's values are not known (not a loop's induction
// variable with constant bounds) keeps its results.
// CHECK-LABEL: func.func @unknown(
// CHECK-SAME:      %[[N:[^:]*]]: index, %[[T:[^:]*]]: memref<3xindex>)
// CHECK:         scf.index_switch %[[N]] -> memref<2xf32>
func.func @unknown(%n: index, %a: memref<2xf32>, %b: memref<2xf32>) {
  %r = scf.index_switch %n -> memref<2xf32>
  case 1 {
    scf.yield %b : memref<2xf32>
  }
  default {
    scf.yield %a : memref<2xf32>
  }
  func.call @one(%r) : (memref<2xf32>) -> ()
  return
}
func.func private @one(memref<2xf32>)

// -----

// Private functions, public functions the module calls, functions without
// a static buffer argument and declarations keep their signatures.
// CHECK-LABEL: func.func private @inner(%{{.*}}: memref<2xf32>)
// CHECK-LABEL: func.func @called(%{{.*}}: memref<2xf32>)
// CHECK-NOT:     onebit.arg_table
// CHECK-LABEL: func.func @caller(
// CHECK-SAME:      %[[T:[^:]*]]: memref<1xindex>) attributes {onebit.arg_table = array<i64: 0>}
// CHECK:         call @called(%{{.*}}) : (memref<2xf32>) -> ()
// CHECK-LABEL: func.func @dynamic(%{{.*}}: memref<?xf32>, %{{.*}}: memref<2xf32, strided<[2]>>)
// CHECK-NOT:     onebit.arg_table
func.func private @inner(%a: memref<2xf32>) {
  return
}
func.func @called(%a: memref<2xf32>) {
  return
}
func.func @caller(%a: memref<2xf32>) {
  func.call @called(%a) : (memref<2xf32>) -> ()
  return
}
func.func @dynamic(%a: memref<?xf32>, %b: memref<2xf32, strided<[2]>>) {
  return
}
