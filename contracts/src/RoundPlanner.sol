// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoundMath} from "./RoundMath.sol";

/// @title RoundMath behind external pure functions, deployed by TrainingJobs' constructor.
/// @notice The epoch split and the committee draw run here, in a contract of their own, so
///         TrainingJobs stays well under the EIP-170 code-size limit. Stateless and pure: the
///         same inputs give the same outputs as the library inlined.
contract RoundPlanner {
    function fill(uint256 total, uint256[] calldata weights, uint256[] calldata room)
        external
        pure
        returns (uint256[] memory)
    {
        return RoundMath.fill(total, weights, room);
    }

    function drawSeats(bytes32 seed, uint256[] calldata weights, uint256 k) external pure returns (uint256[] memory) {
        return RoundMath.drawSeats(seed, weights, k);
    }
}
