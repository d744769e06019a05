// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoundMath} from "../src/RoundMath.sol";
import {RoundPlanner} from "../src/RoundPlanner.sol";

/// @title TEST ONLY: the RoundMath library behind external pure functions.
/// @notice TrainingJobs runs `fill` and `drawSeats` through RoundPlanner (which this harness
///         extends) and inlines the rest, so the tests compare the library with a Python
///         reference through this harness, with many more inputs than rounds on chain could
///         afford. Never deployed by the shipped suite.
contract RoundMathHarness is RoundPlanner {
    function split(uint256 total, uint256[] memory weights) external pure returns (uint256[] memory) {
        return RoundMath.split(total, weights);
    }

    function popcount(uint256 x) external pure returns (uint256) {
        return RoundMath.popcount(x);
    }
}
