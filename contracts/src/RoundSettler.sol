// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FederationRegistry} from "./FederationRegistry.sol";
import {RoundPlanner} from "./RoundPlanner.sol";
import {TrainingJobsBase} from "./TrainingJobsBase.sol";

/// @title The settling half of TrainingJobs: tally, finalize, fail, lapses and re-splits.
/// @notice Deployed by TrainingJobs' constructor and run only by DELEGATECALL from it, in its
///         storage (the layout both inherit from TrainingJobsBase). Called any other way it
///         refuses: it has no state, tokens or registry rights of its own.
contract RoundSettler is TrainingJobsBase {
    /// @notice The TrainingJobs contract that deployed this one: the only storage it runs in.
    address public immutable host;

    error NotDelegated();

    constructor(IERC20 token_, FederationRegistry registry_, address governance_, RoundPlanner planner_)
        TrainingJobsBase(token_, registry_, governance_, planner_)
    {
        host = msg.sender;
    }

    modifier onlyHost() {
        if (address(this) != host) revert NotDelegated();
        _;
    }

    function tally(uint256 jobId, uint256 roundId) external onlyHost {
        _tally(jobId, roundId, _jobs[jobId], _rounds[jobId][roundId]);
    }

    function finalize(uint256 jobId, uint256 roundId, bytes32 modelHash) external onlyHost {
        _finalize(jobId, roundId, _jobs[jobId], _rounds[jobId][roundId], modelHash);
    }

    function fail(uint256 jobId, uint256 roundId) external onlyHost {
        _fail(jobId, roundId, _jobs[jobId].params.fedId, _rounds[jobId][roundId]);
    }

    function resplit(uint256 jobId, uint256 roundId, uint256 freed) external onlyHost {
        _resplit(jobId, roundId, _rounds[jobId][roundId], freed, false);
    }

    /// @dev The unanswered assignments lapse; their epochs go to the members that accepted.
    function closeAcceptance(uint256 jobId, uint256 roundId) external onlyHost {
        Round storage rd = _rounds[jobId][roundId];
        uint256 freed = _lapse(jobId, roundId, _jobs[jobId].params.fedId, rd);
        _resplit(jobId, roundId, rd, freed, true);
    }
}
