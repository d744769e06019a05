// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice What a hooked account implements (ERC777's tokensToSend/tokensReceived, folded into one).
interface ITokenHook {
    function tokenHook(address from, address to, uint256 amount) external;
}

/// @title TEST ONLY: an ERC20 that calls ERC777-style hooks on sender and recipient.
/// @notice MilonToken has no hooks, so nothing in the shipped suite hands control to a member
///         while tokens move. The attack tests deploy the real registry and jobs bytecode on
///         this token instead, to show their guards and checks-effects-interactions order hold
///         even when a transfer calls back into an attacker (after balances are updated, like
///         tokensReceived). Accounts opt in with registerHook(), as with ERC1820.
contract HookToken is ERC20 {
    mapping(address account => bool) public hooked;

    constructor(address holder, uint256 supply) ERC20("HookToken", "HOOK") {
        _mint(holder, supply);
    }

    function registerHook() external {
        hooked[msg.sender] = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from != address(0) && hooked[from]) ITokenHook(from).tokenHook(from, to, value);
        if (to != address(0) && hooked[to]) ITokenHook(to).tokenHook(from, to, value);
    }
}
