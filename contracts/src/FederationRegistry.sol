// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ITrainingJobsPending} from "./ITrainingJobsPending.sol";

/// @title Federations, their members, stakes and capacities.
/// @notice Members stake MILON to join a federation and declare a capacity score, and may
///         declare one per job model (a job's modelSpecHash) measured on that model and batch
///         size; the jobs contract splits a job's work by the capacity for its model (else the
///         general one), draws stake-weighted validator committees from the
///         active members and slashes stakes for missing or rejected work. Active members are
///         kept in a join-ordered linked list so rounds can read them in O(active) without
///         walking members that left. A member slashed below its federation's minimum stake is
///         suspended (out of the list, no new work, no committee seat) until it tops up.
contract FederationRegistry {
    using SafeERC20 for IERC20;

    uint8 public constant ADMISSION_OPEN = 0;
    uint8 public constant ADMISSION_GOVERNANCE = 1;
    uint256 public constant MAX_PEER_INFO = 512;
    uint256 public constant MAX_STAKE_FLOOR = 1_000_000_000e18;
    uint64 public constant MAX_LEAVE_COOLDOWN = 365 days;
    uint256 public constant MAX_MEMBERS_LIMIT = 1024;
    /// @notice The most a governance slash may ever take of a stake in one proposal (50 %).
    uint16 public constant MAX_GOV_SLASH_CAP_BPS = 5_000;

    struct Federation {
        string name;
        bytes32 metadataHash;
        uint256 minStake;
        uint8 admission;
        address creator;
        uint256 memberCount;
        uint256 totalCapacity;
    }

    struct Member {
        uint256 stake;
        uint64 capacity;
        string peerInfo;
        uint64 joinedAt;
        uint64 leaveRequestedAt;
        uint64 withdrawableAt; // fixed when the leave is requested: later cooldown changes don't move it
        bool active; // in the active list: eligible for work and committee seats
        bool admitted;
        bool suspended; // slashed below the federation's minimum stake; addStake brings it back
    }

    IERC20 public immutable token;
    address public immutable governance;
    address public immutable deployer;
    address public jobs;

    uint256 public minStakeFloor;
    uint64 public leaveCooldown;
    uint16 public slashBps;
    uint256 public maxMembers = 256;
    /// @notice Largest share of a member's stake one governance slash may take (basis points).
    uint16 public govSlashCapBps = 1_000;

    Federation[] private _federations;
    mapping(uint256 fedId => address[]) private _everJoined;
    mapping(uint256 fedId => mapping(address => bool)) private _listed;
    mapping(uint256 fedId => mapping(address => Member)) private _members;
    // Join-ordered doubly linked list of active members, per federation.
    mapping(uint256 fedId => address) private _head;
    mapping(uint256 fedId => address) private _tail;
    mapping(uint256 fedId => mapping(address => address)) private _next;
    mapping(uint256 fedId => mapping(address => address)) private _prev;
    // Block of the last governance slash per member: a proposal executes in one transaction,
    // so one slash per member per block caps what any single proposal can take.
    mapping(uint256 fedId => mapping(address => uint256)) private _govSlashBlock;
    // Capacity a member measured on one job model, keyed by the job's modelSpecHash (the spec
    // fixes the layers and the batch size, so jobs with the same spec share the measurement).
    mapping(uint256 fedId => mapping(address => mapping(bytes32 key => uint64))) private _modelCapacity;

    error NotAuthorized(address caller);
    error NotGovernance(address caller);
    error ZeroAddress();
    error JobsAlreadySet();
    error UnknownFederation(uint256 fedId);
    error EmptyName();
    error BadAdmission(uint8 admission);
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error ZeroAmount();
    error ZeroCapacity();
    error PeerInfoTooLong(uint256 length, uint256 max);
    error NotAdmitted(uint256 fedId, address account);
    error AdmissionNotRequired(uint256 fedId);
    error AlreadyMember(uint256 fedId, address account);
    error NotMember(uint256 fedId, address account);
    error LeavePending(uint256 fedId, address account);
    error FederationFull(uint256 fedId, uint256 maxMembers);
    error NothingToWithdraw(uint256 fedId, address account);
    error CooldownActive(uint256 readyAt);
    error WorkPending(uint256 fedId, address account, uint256 rounds);
    error ParamOutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);
    error GovSlashOverCap(uint256 amount, uint256 cap);
    error GovSlashAgain(uint256 fedId, address account);
    error EmptyReason();
    error ZeroKey();

    event JobsSet(address indexed jobs);
    event FederationCreated(
        uint256 indexed fedId,
        address indexed creator,
        string name,
        bytes32 metadataHash,
        uint256 minStake,
        uint8 admission
    );
    event MemberAdmitted(uint256 indexed fedId, address indexed account);
    event MemberRemoved(uint256 indexed fedId, address indexed account, uint256 readyAt);
    event MemberJoined(
        uint256 indexed fedId, address indexed account, uint256 stake, uint64 capacity, string peerInfo
    );
    event StakeAdded(uint256 indexed fedId, address indexed account, uint256 amount, uint256 newStake);
    event MemberUpdated(uint256 indexed fedId, address indexed account, uint64 capacity, string peerInfo);
    event ModelCapacitySet(uint256 indexed fedId, address indexed account, bytes32 indexed key, uint64 capacity);
    event LeaveRequested(uint256 indexed fedId, address indexed account, uint256 readyAt);
    event StakeWithdrawn(uint256 indexed fedId, address indexed account, uint256 amount);
    event Slashed(
        uint256 indexed fedId, address indexed account, uint256 amount, bytes32 reason, address by
    );
    event MinStakeFloorSet(uint256 oldValue, uint256 newValue);
    event SlashBpsSet(uint16 oldValue, uint16 newValue);
    event LeaveCooldownSet(uint64 oldValue, uint64 newValue);
    event MaxMembersSet(uint256 oldValue, uint256 newValue);
    event GovSlashCapSet(uint16 oldValue, uint16 newValue);
    event MemberSuspended(uint256 indexed fedId, address indexed account, uint256 stake, uint256 minStake);
    event MemberReinstated(uint256 indexed fedId, address indexed account, uint256 stake);

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    constructor(IERC20 token_, address governance_, uint256 minStakeFloor_, uint64 leaveCooldown_, uint16 slashBps_) {
        if (address(token_) == address(0) || governance_ == address(0)) revert ZeroAddress();
        _checkRange("minStakeFloor", minStakeFloor_, 0, MAX_STAKE_FLOOR);
        _checkRange("leaveCooldown", leaveCooldown_, 0, MAX_LEAVE_COOLDOWN);
        _checkRange("slashBps", slashBps_, 0, 10_000);
        token = token_;
        governance = governance_;
        deployer = msg.sender;
        minStakeFloor = minStakeFloor_;
        leaveCooldown = leaveCooldown_;
        slashBps = slashBps_;
    }

    /// @notice Wire the jobs contract once, right after deployment.
    function setJobs(address jobs_) external {
        if (msg.sender != deployer) revert NotAuthorized(msg.sender);
        if (jobs != address(0)) revert JobsAlreadySet();
        if (jobs_ == address(0)) revert ZeroAddress();
        jobs = jobs_;
        emit JobsSet(jobs_);
    }

    // ------------------------------------------------------------------ federations

    function createFederation(string calldata name, bytes32 metadataHash, uint256 minStake, uint8 admission)
        external
        returns (uint256 fedId)
    {
        if (bytes(name).length == 0) revert EmptyName();
        if (admission > ADMISSION_GOVERNANCE) revert BadAdmission(admission);
        if (minStake < minStakeFloor) revert StakeBelowMinimum(minStake, minStakeFloor);
        _federations.push(Federation(name, metadataHash, minStake, admission, msg.sender, 0, 0));
        fedId = _federations.length;
        emit FederationCreated(fedId, msg.sender, name, metadataHash, minStake, admission);
    }

    function admitMember(uint256 fedId, address account) external onlyGovernance {
        Federation storage f = _fed(fedId);
        if (f.admission != ADMISSION_GOVERNANCE) revert AdmissionNotRequired(fedId);
        if (account == address(0)) revert ZeroAddress();
        _members[fedId][account].admitted = true;
        emit MemberAdmitted(fedId, account);
    }

    /// @notice Deactivate a member; its stake is withdrawable after the cooldown, like a leave.
    function removeMember(uint256 fedId, address account) external onlyGovernance {
        _fed(fedId);
        Member storage m = _members[fedId][account];
        if (!m.active && !m.suspended) revert NotMember(fedId, account);
        m.admitted = false;
        _leave(fedId, account, m);
        emit MemberRemoved(fedId, account, m.withdrawableAt);
    }

    // ------------------------------------------------------------------ membership

    function join(uint256 fedId, uint256 stake, uint64 capacity, string calldata peerInfo) external {
        Federation storage f = _fed(fedId);
        Member storage m = _members[fedId][msg.sender];
        if (m.active || m.suspended) revert AlreadyMember(fedId, msg.sender);
        if (m.stake != 0) revert LeavePending(fedId, msg.sender);
        if (f.admission == ADMISSION_GOVERNANCE && !m.admitted) revert NotAdmitted(fedId, msg.sender);
        if (stake == 0) revert ZeroAmount();
        if (stake < f.minStake) revert StakeBelowMinimum(stake, f.minStake);
        if (capacity == 0) revert ZeroCapacity();
        if (bytes(peerInfo).length > MAX_PEER_INFO) revert PeerInfoTooLong(bytes(peerInfo).length, MAX_PEER_INFO);
        if (f.memberCount >= maxMembers) revert FederationFull(fedId, maxMembers);

        m.stake = stake;
        m.capacity = capacity;
        m.peerInfo = peerInfo;
        m.joinedAt = uint64(block.timestamp);
        m.leaveRequestedAt = 0;
        m.withdrawableAt = 0;
        m.active = true;
        f.memberCount += 1;
        f.totalCapacity += capacity;
        if (!_listed[fedId][msg.sender]) {
            _listed[fedId][msg.sender] = true;
            _everJoined[fedId].push(msg.sender);
        }
        _append(fedId, msg.sender);
        if (jobs != address(0)) _tellJobs(fedId);
        emit MemberJoined(fedId, msg.sender, stake, capacity, peerInfo);
        token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Add to a stake; a suspended member that reaches the minimum again is reinstated.
    function addStake(uint256 fedId, uint256 amount) external {
        Federation storage f = _fed(fedId);
        Member storage m = _members[fedId][msg.sender];
        if (!m.active && !m.suspended) revert NotMember(fedId, msg.sender);
        if (amount == 0) revert ZeroAmount();
        m.stake += amount;
        emit StakeAdded(fedId, msg.sender, amount, m.stake);
        if (m.suspended && m.stake >= f.minStake) {
            if (f.memberCount >= maxMembers) revert FederationFull(fedId, maxMembers);
            m.suspended = false;
            m.active = true;
            f.memberCount += 1;
            f.totalCapacity += m.capacity;
            _append(fedId, msg.sender);
            emit MemberReinstated(fedId, msg.sender, m.stake);
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function updateMember(uint256 fedId, uint64 capacity, string calldata peerInfo) external {
        Federation storage f = _fed(fedId);
        Member storage m = _members[fedId][msg.sender];
        if (!m.active && !m.suspended) revert NotMember(fedId, msg.sender);
        if (capacity == 0) revert ZeroCapacity();
        if (bytes(peerInfo).length > MAX_PEER_INFO) revert PeerInfoTooLong(bytes(peerInfo).length, MAX_PEER_INFO);
        if (m.active) f.totalCapacity = f.totalCapacity - m.capacity + capacity;
        m.capacity = capacity;
        m.peerInfo = peerInfo;
        emit MemberUpdated(fedId, msg.sender, capacity, peerInfo);
    }

    /// @notice Declare the capacity measured on one job model: `key` is the job's modelSpecHash
    ///         (every job with that spec is split by it); 0 withdraws it, so the general
    ///         capacity applies again. Only an active member, for itself. What a declaration can
    ///         take is bounded by the jobs contract: the per-member cap of a round and the
    ///         delivery record that scales it.
    function setModelCapacity(uint256 fedId, bytes32 key, uint64 capacity) external {
        _fed(fedId);
        if (!_members[fedId][msg.sender].active) revert NotMember(fedId, msg.sender);
        if (key == bytes32(0)) revert ZeroKey();
        _modelCapacity[fedId][msg.sender][key] = capacity;
        emit ModelCapacitySet(fedId, msg.sender, key, capacity);
    }

    /// @notice Stop taking new work now; the stake is withdrawable after the cooldown that holds
    ///         now (fixed here) and once every round the member took work in has closed.
    function requestLeave(uint256 fedId) external {
        _fed(fedId);
        Member storage m = _members[fedId][msg.sender];
        if (!m.active && !m.suspended) revert NotMember(fedId, msg.sender);
        _leave(fedId, msg.sender, m);
        emit LeaveRequested(fedId, msg.sender, m.withdrawableAt);
    }

    function withdrawStake(uint256 fedId) external returns (uint256 amount) {
        _fed(fedId);
        Member storage m = _members[fedId][msg.sender];
        if (m.active || m.suspended || m.stake == 0) revert NothingToWithdraw(fedId, msg.sender);
        uint256 readyAt = m.withdrawableAt;
        if (block.timestamp < readyAt) revert CooldownActive(readyAt);
        if (jobs != address(0)) {
            uint256 pending = ITrainingJobsPending(jobs).pendingWork(fedId, msg.sender);
            if (pending != 0) revert WorkPending(fedId, msg.sender, pending);
        }
        amount = m.stake;
        m.stake = 0;
        m.leaveRequestedAt = 0;
        m.withdrawableAt = 0;
        emit StakeWithdrawn(fedId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Take up to `amount` of a member's stake into the treasury (the governance timelock).
    ///         The jobs contract slashes for protocol faults at the governed rates. Governance may
    ///         slash too, with a stated reason, at most `govSlashCapBps` of the stake and once per
    ///         member per block (so per proposal). A member left below the federation's minimum
    ///         is suspended until it tops up.
    function slash(uint256 fedId, address account, uint256 amount, bytes32 reason) external returns (uint256 taken) {
        if (msg.sender != jobs && msg.sender != governance) revert NotAuthorized(msg.sender);
        Federation storage f = _fed(fedId);
        Member storage m = _members[fedId][account];
        if (msg.sender == governance) {
            if (reason == bytes32(0)) revert EmptyReason();
            uint256 cap = m.stake * govSlashCapBps / 10_000;
            if (amount > cap) revert GovSlashOverCap(amount, cap);
            if (_govSlashBlock[fedId][account] == block.number) revert GovSlashAgain(fedId, account);
            _govSlashBlock[fedId][account] = block.number;
        }
        taken = amount < m.stake ? amount : m.stake;
        if (taken == 0) return 0;
        m.stake -= taken;
        emit Slashed(fedId, account, taken, reason, msg.sender);
        if (m.active && m.stake < f.minStake) {
            _unlinkActive(fedId, account, m);
            m.suspended = true;
            emit MemberSuspended(fedId, account, m.stake, f.minStake);
        }
        token.safeTransfer(governance, taken);
    }

    // ------------------------------------------------------------------ governed parameters

    function setMinStakeFloor(uint256 value) external onlyGovernance {
        _checkRange("minStakeFloor", value, 0, MAX_STAKE_FLOOR);
        emit MinStakeFloorSet(minStakeFloor, value);
        minStakeFloor = value;
    }

    function setSlashBps(uint16 value) external onlyGovernance {
        _checkRange("slashBps", value, 0, 10_000);
        emit SlashBpsSet(slashBps, value);
        slashBps = value;
    }

    function setLeaveCooldown(uint64 value) external onlyGovernance {
        _checkRange("leaveCooldown", value, 0, MAX_LEAVE_COOLDOWN);
        emit LeaveCooldownSet(leaveCooldown, value);
        leaveCooldown = value;
    }

    function setGovSlashCapBps(uint16 value) external onlyGovernance {
        _checkRange("govSlashCapBps", value, 0, MAX_GOV_SLASH_CAP_BPS);
        emit GovSlashCapSet(govSlashCapBps, value);
        govSlashCapBps = value;
    }

    function setMaxMembers(uint256 value) external onlyGovernance {
        _checkRange("maxMembers", value, 1, MAX_MEMBERS_LIMIT);
        emit MaxMembersSet(maxMembers, value);
        maxMembers = value;
    }

    // ------------------------------------------------------------------ views

    function federation(uint256 fedId) external view returns (Federation memory) {
        return _fed(fedId);
    }

    function federationCount() external view returns (uint256) {
        return _federations.length;
    }

    /// @notice Everyone who ever joined, in first-join order.
    function members(uint256 fedId) external view returns (address[] memory) {
        _fed(fedId);
        return _everJoined[fedId];
    }

    function member(uint256 fedId, address who) external view returns (Member memory) {
        return _members[fedId][who];
    }

    function isActive(uint256 fedId, address who) external view returns (bool) {
        return _members[fedId][who].active;
    }

    function stakeOf(uint256 fedId, address who) external view returns (uint256) {
        return _members[fedId][who].stake;
    }

    /// @notice Active members in join order (a rejoin counts as a new join).
    function activeMembers(uint256 fedId) external view returns (address[] memory list) {
        (list,) = _candidates(fedId, type(uint256).max);
    }

    /// @notice The capacity `who` declared for the job model `key` (0: none declared).
    function modelCapacity(uint256 fedId, address who, bytes32 key) external view returns (uint64) {
        return _modelCapacity[fedId][who][key];
    }

    /// @notice The first `max` active members in join order with their capacities and stakes,
    ///         in one call: what a round splits epochs over and draws its committee from. A
    ///         member's capacity is the one it declared for the job model `key` where it did
    ///         (`setModelCapacity`), else its general one; `key` 0 gives the general ones.
    function roundCandidates(uint256 fedId, bytes32 key, uint256 max)
        external
        view
        returns (address[] memory accounts, uint64[] memory capacities, uint256[] memory stakes)
    {
        (accounts, capacities) = _candidates(fedId, max);
        stakes = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            stakes[i] = _members[fedId][accounts[i]].stake;
            if (key == bytes32(0)) continue;
            uint64 own = _modelCapacity[fedId][accounts[i]][key];
            if (own != 0) capacities[i] = own;
        }
    }

    // ------------------------------------------------------------------ internals

    function _candidates(uint256 fedId, uint256 max)
        internal
        view
        returns (address[] memory accounts, uint64[] memory capacities)
    {
        uint256 n = _fed(fedId).memberCount;
        if (n > max) n = max;
        accounts = new address[](n);
        capacities = new uint64[](n);
        address cur = _head[fedId];
        for (uint256 i; i < n; ++i) {
            accounts[i] = cur;
            capacities[i] = _members[fedId][cur].capacity;
            cur = _next[fedId][cur];
        }
    }

    /// @dev Leaving (by request or removal): out of the active list, cooldown fixed now.
    function _leave(uint256 fedId, address account, Member storage m) internal {
        if (m.active) _unlinkActive(fedId, account, m);
        m.suspended = false;
        m.leaveRequestedAt = uint64(block.timestamp);
        m.withdrawableAt = uint64(block.timestamp) + leaveCooldown;
    }

    function _unlinkActive(uint256 fedId, address account, Member storage m) internal {
        Federation storage f = _federations[fedId - 1];
        m.active = false;
        f.memberCount -= 1;
        f.totalCapacity -= m.capacity;
        _unlink(fedId, account);
    }

    function _append(uint256 fedId, address account) internal {
        address tail = _tail[fedId];
        if (tail == address(0)) {
            _head[fedId] = account;
        } else {
            _next[fedId][tail] = account;
            _prev[fedId][account] = tail;
        }
        _tail[fedId] = account;
    }

    function _unlink(uint256 fedId, address account) internal {
        address prev = _prev[fedId][account];
        address next = _next[fedId][account];
        if (prev == address(0)) _head[fedId] = next;
        else _next[fedId][prev] = next;
        if (next == address(0)) _tail[fedId] = prev;
        else _prev[fedId][next] = prev;
        delete _prev[fedId][account];
        delete _next[fedId][account];
    }

    /// @dev Let the jobs contract open the new member's records (a gas saving for its rounds,
    ///      nothing more): a plain call whose failure is ignored, so a jobs address without that
    ///      hook (or without code) never blocks a join.
    function _tellJobs(uint256 fedId) internal {
        (bool ok,) = jobs.call(abi.encodeCall(ITrainingJobsPending.memberJoined, (fedId, msg.sender)));
        ok; // ignored on purpose
    }

    function _fed(uint256 fedId) internal view returns (Federation storage) {
        if (fedId == 0 || fedId > _federations.length) revert UnknownFederation(fedId);
        return _federations[fedId - 1];
    }

    function _checkRange(bytes32 name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParamOutOfRange(name, value, min, max);
    }
}
