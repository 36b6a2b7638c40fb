-- Fencing tokens for leases: one sequence for every target, so a token only ever grows and a result
-- carrying an older token than the lease's is recognisably from a holder that lost it.
CREATE SEQUENCE "lease_token_seq" AS BIGINT START WITH 1;
