//! Tests of the response encoder.
