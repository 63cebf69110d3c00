//! The mock CA's order and authorization state machine against the independent
//! reference model of the `order_state` fuzz target, on random event sequences: the
//! same oracle as the fuzzer, run by every `cargo test`.

use acmespec::fuzzing::Target;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn core_state_machine_agrees_with_the_reference(events in proptest::collection::vec(any::<u8>(), 1..400)) {
        Target::OrderState.run(&events);
    }

    #[test]
    fn time_passing_and_finalizing_agree_with_the_reference(
        shape in any::<u8>(),
        steps in proptest::collection::vec((0u8..6, any::<u8>(), any::<u8>()), 1..120),
    ) {
        let mut data = vec![shape];
        for (kind, a, b) in steps {
            data.extend([kind, a, b]);
        }
        Target::OrderState.run(&data);
    }
}
