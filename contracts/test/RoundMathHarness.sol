// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoundMath} from "../src/RoundMath.sol";

/// @title TEST ONLY: the RoundMath library behind external pure functions.
/// @notice TrainingJobs inlines RoundMath (its functions are internal), so the tests compare the
///         library with a Python reference through this harness, with many more inputs than
///         rounds on chain could afford. Never deployed by the shipped suite.
contract RoundMathHarness {
    function fill(uint256 total, uint256[] memory weights, uint256[] memory room)
        external
        pure
        returns (uint256[] memory)
    {
        return RoundMath.fill(total, weights, room);
    }

    function split(uint256 total, uint256[] memory weights) external pure returns (uint256[] memory) {
        return RoundMath.split(total, weights);
    }

    function drawSeats(bytes32 seed, uint256[] memory weights, uint256 k)
        external
        pure
        returns (uint256[] memory)
    {
        return RoundMath.drawSeats(seed, weights, k);
    }

    function popcount(uint256 x) external pure returns (uint256) {
        return RoundMath.popcount(x);
    }
}
